/*
 * libflagtrail: the webhook signature, the payload parser and emitter, the JSON reader and
 * writer beneath them, and the flag evaluation engine. Include this header for all of the
 * public API.
 */
#ifndef FLAGTRAIL_H
#define FLAGTRAIL_H

#include "flagtrail/version.h"
#include "flagtrail/error.h"
#include "flagtrail/base.h"
#include "flagtrail/json.h"
#include "flagtrail/payload.h"
#include "flagtrail/signature.h"
#include "flagtrail/engine.h"

#endif
