/* web: static pages compiled into the binary from web/ (see cmake/embed.cmake). */
#ifndef PODIUM_WEB_H
#define PODIUM_WEB_H

#include <stddef.h>
#include <stdint.h>

struct web_file {
    const char *path; /* URL path, e.g. "/" or "/index.html" */
    const char *type;
    const uint8_t *data;
    size_t len;
};

/* web_find: the embedded file served at <path>, or NULL. */
const struct web_file *web_find(const char *path, size_t len);

#endif
