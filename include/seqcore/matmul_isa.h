/* The float and double kernels of one instruction set: matmul_impl.h twice.
 * Included by matmul.h with SC_MM_ISA, SC_MM_VB, SC_MM_MR and SC_MM_NV set.
 * No include guard on purpose. */
#define SC_MM_SFX f
#define SC_MM_T float
#include "matmul_impl.h"
#undef SC_MM_SFX
#undef SC_MM_T
#define SC_MM_SFX d
#define SC_MM_T double
#include "matmul_impl.h"
#undef SC_MM_SFX
#undef SC_MM_T
