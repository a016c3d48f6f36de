/*
 * bcryptprimitives.dll for Wine 8: just ProcessPrng.
 *
 * Rust's std for Windows imports ProcessPrng from bcryptprimitives.dll, which Wine 8 does not
 * have; without it every Rust program exits with status 53 before main. This DLL is installed
 * into the test prefix only (scripts/wine-prefix.sh), never shipped in the package.
 *
 * ProcessPrng fills the buffer from the system RNG; RtlGenRandom (SystemFunction036 in
 * advapi32) is Wine's entry to the same generator. It takes a ULONG length, so large requests
 * are served in pieces.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
