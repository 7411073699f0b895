/* cmd_retry.c: `canopy retry ID...`: re-queues dead, failed or cancelled jobs
   with a fresh attempt budget. Single-threaded. */
#include "cmd.h"

int cn_cmd_retry(cn_cli_t *g, int argc, char **argv) {
    return cn_control_run(g, argc, argv, CANOPY__CONTROL_OP__RETRY,
                          "canopy retry ID... [--json]\n\n"
                          "Re-queues dead, failed or cancelled jobs with a fresh attempt budget.\n");
}
