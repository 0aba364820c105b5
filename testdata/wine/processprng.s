# A stand-in bcryptprimitives.dll for Wine 8, used only by test.sh to run
# the windows tests under Wine in CI. It exists only because Wine 8 (the
# one Debian 12 ships) lacks ProcessPrng, which the Go runtime calls at
# start since Go 1.22: without it a Go program dies before main. Real
# Windows (8 and later) has it, and Wine 9 has it too; delete this
# folder's DLL once CI has a Wine that does.
#
#   BOOL ProcessPrng(PBYTE pbData, SIZE_T cbData)
#
# fills pbData with cbData random bytes through advapi32's
# SystemFunction036 (RtlGenRandom), in pieces that fit its ULONG length,
# and returns TRUE, or FALSE if RtlGenRandom fails (the real one never
# fails; Go aborts if it returns FALSE).
#
# Assembled with binutils-mingw-w64-x86-64 alone (see test.sh): Microsoft
# x64 calling convention, rcx = pbData, rdx = cbData.

	.text
	.globl	ProcessPrng
	.def	ProcessPrng; .scl 2; .type 32; .endef
ProcessPrng:
	pushq	%rbx			# rbx, rsi: callee-saved, kept across calls
	pushq	%rsi
	subq	$40, %rsp		# 32 bytes of shadow space and a slot at 32(%rsp); rsp 16-aligned
	movq	%rcx, %rbx		# the next byte to fill
	movq	%rdx, %rsi		# bytes left
1:
	testq	%rsi, %rsi
	jz	2f
	movl	$0x40000000, %edx	# a piece: at most 1 GiB, which a ULONG holds
	cmpq	%rdx, %rsi
	cmovbq	%rsi, %rdx
	movq	%rdx, 32(%rsp)
	movq	%rbx, %rcx
	call	*__imp_SystemFunction036(%rip)
	testb	%al, %al
	jz	3f
	movq	32(%rsp), %rdx
	addq	%rdx, %rbx
	subq	%rdx, %rsi
	jmp	1b
2:
	movl	$1, %eax		# TRUE
	jmp	4f
3:
	xorl	%eax, %eax		# FALSE
4:
	addq	$40, %rsp
	popq	%rsi
	popq	%rbx
	ret
