/* Links against an installed shoal and checks the header and the library
 * agree on the version. Exit 0 on success, 1 with a message otherwise. */
#include <shoal/build_config.h>
#include <shoal/shoal.h>
#include <stdio.h>
#include <string.h>

#ifndef SHOAL_EXPECTED_VERSION_CODE
#error "compile with -DSHOAL_EXPECTED_VERSION_CODE=<major*10000+minor*100+patch>"
#endif

int main(void) {
  int version = 0;
  shoalResult_t r = shoalGetVersion(&version);
  if (r != shoalSuccess) {
    fprintf(stderr, "consumer_c: shoalGetVersion returned %d\n", (int)r);
    return 1;
  }
  if (version != SHOAL_VERSION_CODE || SHOAL_VERSION_CODE != SHOAL_EXPECTED_VERSION_CODE) {
    fprintf(stderr, "consumer_c: library version %d, header %d, expected %d\n", version,
            SHOAL_VERSION_CODE, SHOAL_EXPECTED_VERSION_CODE);
    return 1;
  }
  const char* ok = shoalGetErrorString(shoalSuccess);
  const char* bad = shoalGetErrorString(shoalInvalidArgument);
  if (ok == NULL || bad == NULL || *ok == '\0' || *bad == '\0' || strcmp(ok, bad) == 0) {
    fprintf(stderr, "consumer_c: shoalGetErrorString gives empty or identical strings\n");
    return 1;
  }
  printf(
      "consumer_c: shoal %s (%d); verbs %d, ucx %d, hwloc %d, cuda %d; invalid argument = \"%s\"\n",
      SHOAL_VERSION_STRING, version, SHOAL_WITH_VERBS_ENABLED, SHOAL_WITH_UCX_ENABLED,
      SHOAL_WITH_HWLOC_ENABLED, SHOAL_WITH_CUDA_ENABLED, bad);
  return 0;
}
