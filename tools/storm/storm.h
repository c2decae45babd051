/* storm: the rehearsal tool (`podium storm`). */
#ifndef PODIUM_STORM_H
#define PODIUM_STORM_H

/* storm_main: argv[0] is "storm". Returns the process exit code:
 * 0 every SLO held, 1 an SLO failed, 2 usage error. */
int storm_main(int argc, char **argv);

#endif
