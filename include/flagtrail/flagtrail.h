/*
 * libflagtrail: the webhook signature, the payload parser and emitter, and the JSON reader and
 * writer beneath them. Include this header for all of the public API.
 */
#ifndef FLAGTRAIL_H
#define FLAGTRAIL_H

#include "flagtrail/version.h"
#include "flagtrail/error.h"
#include "flagtrail/base.h"
#include "flagtrail/json.h"
#include "flagtrail/payload.h"
#include "flagtrail/signature.h"

#endif
