/* cmd_cancel.c: `canopy cancel ID...`: cancels queued jobs at once and asks
   running ones to stop (they end cancelled within a second or so). The Control
   request helper here also serves `canopy retry`. Single-threaded. */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>

int cn_control_run(cn_cli_t *g, int argc, char **argv, int op, const char *usage) {
    uint64_t *ids = cn_xcalloc((size_t)argc + 1, sizeof *ids);
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        if (cn_arg_help(argv[i])) {
            free(ids);
            return cn_print_help(usage);
        }
        int rc = cn_arg_global(g, argc, argv, &i);
        if (rc < 0 || (rc == 0 && !cn_parse_job_id(argv[i], &ids[n++]))) {
            free(ids);
            return cn_usage_error(usage, "bad job id '%s'", argv[i]);
        }
    }
    if (n == 0) {
        free(ids);
        return cn_usage_error(usage, "which job?");
    }
    cn_client_t *c;
    int rc = cn_client_open(g, &c), status = 0;
    if (rc) {
        free(ids);
        return cn_fail(rc);
    }
    cn_buf_t b = {0};
    if (g->json) cn_buf_putc(&b, '[');
    for (size_t i = 0; i < n && status == 0; i++) {
        Canopy__Control ctl = CANOPY__CONTROL__INIT;
        ctl.op = (Canopy__ControlOp)op;
        ctl.job_id = ids[i];
        Canopy__Envelope env = CANOPY__ENVELOPE__INIT, *rep;
        env.body_case = CANOPY__ENVELOPE__BODY_CONTROL;
        env.control = &ctl;
        if ((rc = cn_client_call(c, &env, CANOPY__ENVELOPE__BODY_CONTROL_REPLY, &rep))) {
            status = cn_fail(rc);
            break;
        }
        const Canopy__Job *j = rep->control_reply->job;
        if (g->json) {
            if (i) cn_buf_putc(&b, ',');
            if (j)
                cn_job_json(&b, j, false);
            else
                cn_buf_printf(&b, "null");
        } else if (j) {
            cn_buf_printf(&b, "%sjob %llu: %s%s", i ? "\n" : "", (unsigned long long)j->id,
                          cn_state_name(j->state),
                          j->cancel_requested && !cn_state_final(j->state) ? " (cancel requested)" : "");
        }
        cn_wire_free(rep);
    }
    if (g->json) cn_buf_putc(&b, ']');
    if (status == 0) cn_print_buf(&b);
    cn_buf_free(&b);
    cn_client_close(&c);
    free(ids);
    return status;
}

int cn_cmd_cancel(cn_cli_t *g, int argc, char **argv) {
    return cn_control_run(g, argc, argv, CANOPY__CONTROL_OP__CANCEL,
                          "canopy cancel ID... [--json]\n\n"
                          "Cancels jobs: a queued job at once, a running one through its worker's\n"
                          "next heartbeat (it stops within about a second).\n");
}
