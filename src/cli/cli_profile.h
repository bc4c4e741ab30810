/*
 * cli_profile.h — report and diff of .heapprofile files (cli_profile.c),
 * called by cli_report.c and cli_diff.c when their files are profiles.
 */
#ifndef HS_CLI_PROFILE_H
#define HS_CLI_PROFILE_H

/* 1 when path holds a sampling heap profile (its first key is "head"). */
int hs_cli_is_profile(const char *path);
int hs_cli_report_profile(const char *file, int top, const char *filter, int json, int tree);
int hs_cli_diff_profiles(const char *a, const char *b, int top, const char *filter, int json,
                         int gate, unsigned long long max_growth);

#endif
