/*
 * spc_cli.h -- subcommands of the spcstream binary.
 *
 * Exit codes: 0 success; 1 runtime failure (I/O, out of memory, services);
 *   2 bad usage, bad config, or malformed input under --strict.
 */
#ifndef SPC_CLI_H
#define SPC_CLI_H

#include <stddef.h>

#define SPC_EXIT_OK 0
#define SPC_EXIT_RUNTIME 1
#define SPC_EXIT_USAGE 2

int spc_cmd_replay(int argc, char **argv);
int spc_cmd_config(int argc, char **argv);
int spc_cmd_run(int argc, char **argv);
int spc_cmd_action(int argc, char **argv);
int spc_cmd_incidents(int argc, char **argv);

struct spc_config;
/** Validate the daemon's sections (run, topics, kafka, redis) of @p cfg.
 *  @returns 0, or -1 with the reason naming the JSON path. */
int spc_daemon_config_check(const struct spc_config *cfg, char *errstr,
                            size_t errstr_size);

#endif /* SPC_CLI_H */
