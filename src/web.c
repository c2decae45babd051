/* web: lookup in the generated table of embedded files. */
#include "web.h"

#include <string.h>

extern const struct web_file web_files[];
extern const size_t web_files_len;

const struct web_file *web_find(const char *path, size_t len)
{
    if (len == 1 && path[0] == '/') {
        path = "/index.html";
        len = 11;
    }
    for (size_t i = 0; i < web_files_len; i++)
        if (strlen(web_files[i].path) == len && !memcmp(web_files[i].path, path, len))
            return &web_files[i];
    return NULL;
}
