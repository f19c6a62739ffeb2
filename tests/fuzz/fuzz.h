/* fuzz.h: the one entry point every fuzz target defines (libFuzzer's), and the helpers they share.
 * Built with clang's libFuzzer by `make fuzz`, or with replay.c as a program that runs a corpus. */
#ifndef AMLFS_FUZZ_H
#define AMLFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
