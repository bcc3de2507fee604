/* Stand-in rank for testing the launcher itself (no shoal calls):
 *   launch_probe print               report the SHOAL_* variables, on both streams
 *   launch_probe fail R CODE         rank R exits with CODE, the others wait
 *   launch_probe fail-stubborn R C   same, but the others ignore SIGTERM
 *   launch_probe sleep               every rank waits to be stopped */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char* var(const char* name) {
  const char* v = getenv(name);
  return v ? v : "(unset)";
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "print";
  int rank = atoi(var("SHOAL_RANK"));
  if (strcmp(mode, "print") == 0) {
    printf("env rank=%s size=%s local=%s localsize=%s host=%s extra=%s secretlen=%zu\n",
           var("SHOAL_RANK"), var("SHOAL_WORLD_SIZE"), var("SHOAL_LOCAL_RANK"),
           var("SHOAL_LOCAL_SIZE"), var("SHOAL_HOST_ID"), var("PROBE_EXTRA"),
           strlen(var("SHOAL_SECRET")));
    printf("root %s\n", var("SHOAL_ROOT"));
    fprintf(stderr, "stderr line from rank %d\n", rank);
    printf("two\nlines from rank %d\n", rank);
    printf("unterminated from rank %d", rank); /* shoalrun must still prefix and end it */
    return 0;
  }
  if (strcmp(mode, "fail") == 0 || strcmp(mode, "fail-stubborn") == 0) {
    int failing = argc > 2 ? atoi(argv[2]) : 0;
    int code = argc > 3 ? atoi(argv[3]) : 1;
    if (strcmp(mode, "fail-stubborn") == 0) signal(SIGTERM, SIG_IGN);
    printf("rank %d started\n", rank);
    fflush(stdout);
    if (rank == failing) {
      usleep(200 * 1000);
      fprintf(stderr, "rank %d giving up with %d\n", rank, code);
      return code;
    }
    sleep(60);
    return 0;
  }
  if (strcmp(mode, "sleep") == 0) {
    printf("rank %d sleeping\n", rank);
    fflush(stdout);
    sleep(60);
    return 0;
  }
  fprintf(stderr, "launch_probe: unknown mode %s\n", mode);
  return 2;
}
