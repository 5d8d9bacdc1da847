/* flagtrail's version. */
#ifndef FLAGTRAIL_VERSION_H
#define FLAGTRAIL_VERSION_H

#define FT_VERSION "0.1.0"

#endif
