/* SPDX-License-Identifier: MIT */
/* Context switch for x86-64, System V ABI (see ctx.h).
 *
 * A suspended context is nothing but a saved %rsp.  The frame it points at,
 * lowest address first, is:
 *
 *     +0   MXCSR (4 bytes), x87 control word (2 bytes), 2 bytes unused
 *     +8   r15
 *     +16  r14
 *     +24  r13
 *     +32  r12
 *     +40  rbx
 *     +48  rbp
 *     +56  return address
 *
 * cio__ctx_make (ctx_asm.c) builds the same frame by hand on a fresh stack,
 * with the return address pointing at cio__ctx_asm_trampoline and r12/r13
 * holding entry/arg.  Keep the two in sync.
 *
 * Only callee-saved state is kept: the caller of cio__ctx_switch already
 * assumes every other register is clobbered by the call.  MXCSR and the x87
 * control word are callee-saved per the ABI ("control bits"), which is what
 * keeps a rounding mode set in one coroutine from leaking into another.
 * The status bits (exception flags) are shared, as they are across calls.
 */
#include "ctx.h"

#if defined(CIO__CTX_ASM_X86_64) && !defined(CIO_CTX_UCONTEXT)

#if defined(__CET__) && (__CET__ & 1)
#  define CIO_ENDBR endbr64
#else
#  define CIO_ENDBR
#endif

    .text

/* void cio__ctx_asm_switch(cio__ctx *from %rdi, cio__ctx *to %rsi)
 * The CFI stays valid after %rsp moves to the other stack because both
 * stacks hold the same frame shape, so debuggers can unwind at every
 * instruction. */
    .globl  cio__ctx_asm_switch
    .type   cio__ctx_asm_switch, @function
    .p2align 4
cio__ctx_asm_switch:
    .cfi_startproc
    CIO_ENDBR
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r12, 0
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r13, 0
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r14, 0
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r15, 0
    subq    $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw  4(%rsp)

    movq    %rsp, (%rdi)
    movq    (%rsi), %rsp

    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq    %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore r15
    popq    %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore r14
    popq    %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore r13
    popq    %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore r12
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbp
    ret
    .cfi_endproc
    .size   cio__ctx_asm_switch, .-cio__ctx_asm_switch

/* Without AddressSanitizer the public names are the raw switch itself, so
 * a switch costs no extra call.  ctx_asm.c overrides these weak aliases
 * with strong definitions when it is built with ASan and needs to wrap the
 * switch in fiber annotations; deciding in C keeps the choice correct even
 * if the build passes different flags to the assembler. */
    .weak   cio__ctx_switch
    .type   cio__ctx_switch, @function
    .set    cio__ctx_switch, cio__ctx_asm_switch
    .weak   cio__ctx_switch_last
    .type   cio__ctx_switch_last, @function
    .set    cio__ctx_switch_last, cio__ctx_asm_switch

/* First code run on a new stack, reached by the "ret" of the first switch
 * into it.  %rsp is 16-byte aligned here, so the call below enters entry
 * with %rsp % 16 == 8 exactly as for any ordinary call.  %rbp was restored
 * as 0 and the return address is marked undefined so that unwinders and
 * debuggers stop here instead of walking off the top of the stack. */
    .globl  cio__ctx_asm_trampoline
    .type   cio__ctx_asm_trampoline, @function
    .p2align 4
cio__ctx_asm_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r13, %rdi
    callq   *%r12
    /* entry must not return; there is no frame to return to. */
    callq   abort@PLT
    ud2
    .cfi_endproc
    .size   cio__ctx_asm_trampoline, .-cio__ctx_asm_trampoline

#endif /* CIO__CTX_ASM_X86_64 */

    .section .note.GNU-stack,"",@progbits
