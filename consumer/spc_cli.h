/*
 * spc_cli.h -- subcommands of the spcstream binary.
 *
 * Exit codes: 0 success; 1 runtime failure (I/O, out of memory, services);
 *   2 bad usage, bad config, or malformed input under --strict.
 */
#ifndef SPC_CLI_H
#define SPC_CLI_H

#define SPC_EXIT_OK 0
#define SPC_EXIT_RUNTIME 1
#define SPC_EXIT_USAGE 2

int spc_cmd_replay(int argc, char **argv);
int spc_cmd_config(int argc, char **argv);
int spc_cmd_run(int argc, char **argv);
int spc_cmd_action(int argc, char **argv);
int spc_cmd_incidents(int argc, char **argv);

#endif /* SPC_CLI_H */
