/*
 * cli.h — private to the heapscope command: one function per subcommand,
 * each taking the arguments after the subcommand's name and returning the
 * process exit status.
 */
#ifndef HS_CLI_H
#define HS_CLI_H

int hs_cli_run(int argc, char **argv);

/* Formats n bytes as "1.2 MiB" into buf. */
const char *hs_cli_bytes(unsigned long long n, char *buf, unsigned long size);

#endif
