/**
 * config.json contents of released model shapes, for tests that size caches and context windows
 * from config.json alone (no weights needed). Values are the published configs' fields.
 */

/** DeepSeek-V4-Flash (../shared/oracle-v4/CHECKPOINTS.md): 43 layers = 2 sliding + 21 CSA + 20 HCA; compress_ratios has a 44th (MTP) slot. */
export function v4FlashConfig(): Record<string, unknown> {
  const ratios = [0, 0, ...Array.from({ length: 41 }, (_, i) => (i % 2 === 0 ? 4 : 128)), 0];
  return {
    architectures: ['DeepseekV4ForCausalLM'],
    model_type: 'deepseek_v4',
    hidden_size: 4096,
    num_hidden_layers: 43,
    num_attention_heads: 64,
    num_key_value_heads: 1,
    head_dim: 512,
    qk_rope_head_dim: 64,
    q_lora_rank: 1024,
    o_groups: 8,
    o_lora_rank: 1024,
    n_routed_experts: 256,
    num_experts_per_tok: 6,
    moe_intermediate_size: 2048,
    n_shared_experts: 1,
    num_hash_layers: 3,
    index_n_heads: 64,
    index_head_dim: 128,
    index_topk: 512,
    sliding_window: 128,
    hc_mult: 4,
    hc_sinkhorn_iters: 20,
    hc_eps: 1e-6,
    vocab_size: 129280,
    max_position_embeddings: 1048576,
    compress_ratios: ratios,
    rope_theta: 10000,
    compress_rope_theta: 160000,
    rope_scaling: { type: 'yarn', factor: 16, original_max_position_embeddings: 65536, beta_fast: 32, beta_slow: 1 },
    scoring_func: 'sqrtsoftplus',
    norm_topk_prob: true,
    routed_scaling_factor: 1.5,
    swiglu_limit: 10,
    rms_norm_eps: 1e-6,
    num_nextn_predict_layers: 1,
    torch_dtype: 'bfloat16',
  };
}

/** Qwen2.5-Coder-7B: a 32K-context model with full (GQA) K/V: 28 layers x 4 KV heads x 128. */
export function qwen25Coder7bConfig(): Record<string, unknown> {
  return {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    hidden_size: 3584,
    intermediate_size: 18944,
    num_hidden_layers: 28,
    num_attention_heads: 28,
    num_key_value_heads: 4,
    max_position_embeddings: 32768,
    vocab_size: 152064,
    rope_theta: 1000000,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
  };
}

/** A 4K-context Llama (Llama-2-7B's shape: 32 layers x 32 KV heads x 128). */
export function llama4kConfig(): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 4096,
    intermediate_size: 11008,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    num_key_value_heads: 32,
    max_position_embeddings: 4096,
    vocab_size: 32000,
    rope_theta: 10000,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: false,
    torch_dtype: 'float16',
  };
}
