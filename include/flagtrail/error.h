/*
 * flagtrail error codes.
 *
 * Every fallible function returns an int: FT_OK (0) on success or one of the negative codes
 * below. Codes, their names and messages come from one X-macro list so they never drift
 * apart. Details (byte offsets, JSON paths) travel in the error structs of the modules that
 * produce them; this list only says what kind of failure it was.
 */
#ifndef FLAGTRAIL_ERROR_H
#define FLAGTRAIL_ERROR_H

#define FT_ERROR_MAP(X)                             \
    X(EINVAL, -1, "invalid argument")               \
    X(EIO, -2, "input/output error")                \
    X(ETOOBIG, -3, "size limit exceeded")           \
    X(EJSON, -4, "invalid JSON")                    \
    X(EDEPTH, -5, "nesting too deep")               \
    X(EPAYLOAD, -6, "invalid payload")              \
    X(ESIGMISSING, -7, "signature missing")         \
    X(ESIGMALFORMED, -8, "signature malformed")     \
    X(ESIGMISMATCH, -9, "signature does not match") \
    X(ECRYPTO, -10, "cryptography library failure") \
    X(ENOENT, -11, "not found")                     \
    X(ENOSPC, -12, "no space left")                 \
    X(ECORRUPT, -13, "data corrupt")                \
    X(EBUSY, -14, "resource busy")                  \
    X(ESTORE, -15, "warehouse error")               \
    X(ECLOSED, -16, "shutting down")                \
    X(EREFUSED, -17, "refused by the warehouse")    \
    X(EDOCUMENT, -40, "invalid environment document")

enum ft_error {
    FT_OK = 0,
#define FT__ERROR_ENUM(name, code, msg) FT_##name = (code),
    FT_ERROR_MAP(FT__ERROR_ENUM)
#undef FT__ERROR_ENUM
};

/* Returns a static, human-readable message for an error code ("unknown error" otherwise). */
const char *ft_strerror(int err);

/* Returns the code's symbolic name without the prefix ("ETOOBIG"), or "UNKNOWN". */
const char *ft_error_name(int err);

#endif
