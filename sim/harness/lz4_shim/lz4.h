/* The two LZ4 entry points Verilator's FST writer calls, for hosts that ship liblz4.so.1 without its header
 * (Debian's liblz4-1 without liblz4-dev). Declarations only; the library itself is linked at build time.
 * Used by vta.sim.build only when no system <lz4.h> is found. */
#ifndef VTA_LZ4_SHIM_H
#define VTA_LZ4_SHIM_H
#ifdef __cplusplus
extern "C" {
#endif
int LZ4_compressBound(int inputSize);
int LZ4_compress_default(const char* src, char* dst, int srcSize, int dstCapacity);
#ifdef __cplusplus
}
#endif
#endif
