/*
 * Messages and names for the error codes of include/flagtrail/error.h, generated from the
 * same X-macro list as the enum.
 */
#include "flagtrail/error.h"

const char *ft_strerror(int err)
{
    switch (err) {
    case FT_OK: return "success";
#define FT__ERROR_MSG(name, code, msg) \
    case FT_##name: return msg;
        FT_ERROR_MAP(FT__ERROR_MSG)
#undef FT__ERROR_MSG
    }
    return "unknown error";
}

const char *ft_error_name(int err)
{
    switch (err) {
    case FT_OK: return "OK";
#define FT__ERROR_NAME(name, code, msg) \
    case FT_##name: return #name;
        FT_ERROR_MAP(FT__ERROR_NAME)
#undef FT__ERROR_NAME
    }
    return "UNKNOWN";
}
