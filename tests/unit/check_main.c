/*
 * check_main.c -- runs the one suite a test executable is built for
 * (SPC_SUITE, set by tests/CMakeLists.txt).
 */
#include <check.h>
#include <stdlib.h>

Suite *SPC_SUITE(void);

int main(void)
{
    SRunner *sr = srunner_create(SPC_SUITE());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
