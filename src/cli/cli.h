/*
 * cli.h — private to the heapscope command: one function per subcommand,
 * each taking the arguments after the subcommand's name and returning the
 * process exit status: 0 success, 1 the program or target failed, 2 a bad
 * command line (`run` passes the program's own status through).
 */
#ifndef HS_CLI_H
#define HS_CLI_H

int hs_cli_run(int argc, char **argv);
int hs_cli_targets(int argc, char **argv);  /* cli_target.c */
int hs_cli_gc(int argc, char **argv);       /* cli_target.c */
int hs_cli_sample(int argc, char **argv);   /* cli_sample.c */
int hs_cli_snapshot(int argc, char **argv); /* cli_snapshot.c */
int hs_cli_track(int argc, char **argv);    /* cli_track.c */
int hs_cli_convert(int argc, char **argv);  /* cli_convert.c */
int hs_cli_report(int argc, char **argv);   /* cli_report.c */
int hs_cli_diff(int argc, char **argv);     /* cli_diff.c */

/* Formats n bytes as "1.2 MiB" into buf. */
/* --name VALUE or --name=VALUE at argv[*i]: 1 (value set, *i moved past
 * it), 0 if argv[*i] is another argument, -1 if the value is missing. */
int hs_cli_opt_value(int argc, char **argv, int *i, const char *name, const char **value);
const char *hs_cli_bytes(unsigned long long n, char *buf, unsigned long size);

/* The options every table-printing command (report, diff) takes: --top N
 * (1 … 1000000), --filter TEXT, --format text|json. At argv[*i]: 1 when it
 * was one of them (*i moved past its value), 0 when it is another argument,
 * -1 when its value is missing or bad. */
struct hs_cli_table_opts {
    int top; /* default 10 */
    const char *filter;
    int json;
};
int hs_cli_table_opt(int argc, char **argv, int *i, struct hs_cli_table_opts *o);

#endif
