/*
 * formulas.c - the built-in oracles written in the formula language
 * (route-oracle(1)).  The compiled twins in lib/route.c check the
 * same requires, in the same order, naming the same fields; the unit test
 * suite_equiv holds the two paths equal.  Input and output orders are the
 * ABI: never reorder them.
 */
#include "kvarbiter.h"

const char kva_formula_radix_1d[] =
	"# radix-1d: one flat run of blocks; a token's absolute position\n"
	"# split into block and offset\n"
	"oracle radix-1d\n"
	"input b_local_idx prefix_length block_size\n"
	"require b_local_idx >= 0\n"
	"require prefix_length >= 0\n"
	"require block_size >= 1\n"
	"let a = prefix_length + b_local_idx\n"
	"out block = a div block_size\n"
	"out offset = a mod block_size\n";

const char kva_formula_radix_2d[] =
	"# radix-2d: each head owns a ring of total_blocks_h blocks\n"
	"oracle radix-2d\n"
	"input b_local_idx head_idx prefix_length_h total_blocks_h block_size\n"
	"require b_local_idx >= 0\n"
	"require head_idx >= 0\n"
	"require prefix_length_h >= 0\n"
	"require total_blocks_h >= 1\n"
	"require block_size >= 1\n"
	"let a = prefix_length_h + b_local_idx\n"
	"out head = head_idx\n"
	"out block = (a div block_size) mod total_blocks_h\n"
	"out offset = a mod block_size\n";

const char kva_formula_paged[] =
	"# paged (vLLM): a block table per sequence; pos -1 is padding\n"
	"oracle paged\n"
	"input pos block_size\n"
	"table block_table\n"
	"require pos >= -1\n"
	"require block_size >= 1\n"
	"padding pos == -1\n"
	"unmapped pos div block_size >= len(block_table)\n"
	"out block = block_table[pos div block_size]\n"
	"out offset = pos mod block_size\n"
	"out slot = block * block_size + offset\n";

const char kva_formula_paged_ring[] =
	"# paged-ring (vLLM v0 sliding window): the block table is a ring\n"
	"# of window_blocks entries\n"
	"oracle paged-ring\n"
	"input pos block_size window_blocks\n"
	"table block_table\n"
	"require pos >= -1\n"
	"require block_size >= 1\n"
	"require window_blocks >= 1\n"
	"padding pos == -1\n"
	"unmapped (pos div block_size) mod window_blocks >= len(block_table)\n"
	"out block = block_table[(pos div block_size) mod window_blocks]\n"
	"out offset = pos mod block_size\n"
	"out slot = block * block_size + offset\n";

const char kva_formula_flashinfer[] =
	"# flashinfer: CSR page table; request batch owns pages\n"
	"# kv_indices[kv_indptr[batch] .. kv_indptr[batch + 1]), the last one\n"
	"# filled to kv_last_page_len[batch]\n"
	"oracle flashinfer\n"
	"input batch pos page_size\n"
	"table kv_indptr kv_indices kv_last_page_len\n"
	"require page_size >= 1\n"
	"require pos >= 0\n"
	"require batch >= 0\n"
	"require len(kv_indptr) == len(kv_last_page_len) + 1\n"
	"require batch < len(kv_last_page_len)\n"
	"require kv_indptr[0] == 0\n"
	"require sorted(kv_indptr)\n"
	"require kv_indptr[len(kv_indptr) - 1] <= len(kv_indices)\n"
	"let pages = kv_indptr[batch + 1] - kv_indptr[batch]\n"
	"require kv_last_page_len[batch] <= page_size\n"
	"require kv_last_page_len[batch] >= 1 or pages == 0\n"
	"let seqlen = if(pages == 0, 0, (pages - 1) * page_size + "
	"kv_last_page_len[batch])\n"
	"unmapped pos >= seqlen\n"
	"out page = kv_indices[kv_indptr[batch] + pos div page_size]\n"
	"out entry = pos mod page_size\n";

const char kva_formula_rolling[] =
	"# rolling (transformers' sliding-window layers): window slots that\n"
	"# shift left on a write once full, the newest token last; read after\n"
	"# the write that brought the sequence to seq_len tokens\n"
	"oracle rolling\n"
	"input pos seq_len window\n"
	"require seq_len >= 0\n"
	"require window >= 1\n"
	"unmapped pos < 0\n"
	"unmapped pos >= seq_len\n"
	"unmapped pos < seq_len - window\n"
	"out slot = pos - max(seq_len - window, 0)\n";
