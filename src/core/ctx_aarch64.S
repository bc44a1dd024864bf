/* SPDX-License-Identifier: MIT */
/* Context switch for AArch64, AAPCS64 (see ctx.h).
 *
 * A suspended context is nothing but a saved sp.  The 176-byte frame it
 * points at, lowest address first, is:
 *
 *     +0   x19 x20      +48  x25 x26      +96   d8  d9      +144 d14 d15
 *     +16  x21 x22      +64  x27 x28      +112  d10 d11     +160 FPCR
 *     +32  x23 x24      +80  x29 x30      +128  d12 d13     +168 unused
 *
 * cio__ctx_make (ctx_asm.c) builds the same frame by hand on a fresh stack,
 * with x30 pointing at cio__ctx_asm_trampoline and x19/x20 holding
 * entry/arg.  Keep the two in sync.
 *
 * Only callee-saved state is kept: x19-x29, the link register, sp and the
 * low halves of v8-v15 (d8-d15) per AAPCS64.  FPCR (rounding mode, flush to
 * zero, trap enables) is per context so a rounding mode set in one
 * coroutine does not leak into another; FPSR (sticky flags) is shared, as
 * it is across calls.
 */
#include "ctx.h"

#if defined(CIO__CTX_ASM_AARCH64) && !defined(CIO_CTX_UCONTEXT)

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#  define CIO_BTI_C hint #34
#else
#  define CIO_BTI_C
#endif

    .text

/* void cio__ctx_asm_switch(cio__ctx *from x0, cio__ctx *to x1) */
    .globl  cio__ctx_asm_switch
    .type   cio__ctx_asm_switch, %function
    .p2align 4
cio__ctx_asm_switch:
    .cfi_startproc
    CIO_BTI_C
    /* Allocate before storing: anything below sp may be overwritten by a
     * signal handler at any moment. */
    sub     sp, sp, #176
    .cfi_adjust_cfa_offset 176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    .cfi_rel_offset x29, 80
    .cfi_rel_offset x30, 88
    stp     d8,  d9,  [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    str     x9, [sp, #160]

    mov     x10, sp
    str     x10, [x0]
    ldr     x10, [x1]
    mov     sp, x10

    ldr     x10, [sp, #160]
    /* Writing FPCR can stall the pipeline on some cores while reading it
     * is cheap, and almost every switch finds the same value. */
    cmp     x9, x10
    b.eq    1f
    msr     fpcr, x10
1:
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8,  d9,  [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #176
    .cfi_adjust_cfa_offset -176
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size   cio__ctx_asm_switch, .-cio__ctx_asm_switch

/* Without AddressSanitizer the public names are the raw switch itself; see
 * the comment at the same place in ctx_x86_64.S. */
    .weak   cio__ctx_switch
    .type   cio__ctx_switch, %function
    .set    cio__ctx_switch, cio__ctx_asm_switch
    .weak   cio__ctx_switch_last
    .type   cio__ctx_switch_last, %function
    .set    cio__ctx_switch_last, cio__ctx_asm_switch

/* First code run on a new stack, reached by the "ret" of the first switch
 * into it; sp is 16-byte aligned as AAPCS64 requires at all times.  x29 was
 * restored as 0 and x30 is marked undefined so that unwinders stop here. */
    .globl  cio__ctx_asm_trampoline
    .type   cio__ctx_asm_trampoline, %function
    .p2align 4
cio__ctx_asm_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x20
    blr     x19
    /* entry must not return; there is no frame to return to. */
    bl      abort
    brk     #0x3e8
    .cfi_endproc
    .size   cio__ctx_asm_trampoline, .-cio__ctx_asm_trampoline

#endif /* CIO__CTX_ASM_AARCH64 */

    .section .note.GNU-stack,"",%progbits
