/* storm: placeholder entry until the rehearsal tool lands (issue: Storm). */
#include "storm.h"

#include <stdio.h>

int storm_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "podium storm: not built yet\n");
    return 2;
}
