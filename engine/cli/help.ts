/**
 * `engine --help` and `engine <command> --help`: the commands and options the README's CLI table
 * lists, in one place so the two cannot drift apart far (the CLI test checks every command has help).
 */
export const COMMAND_HELP: Record<string, { usage: string; about: string }> = {
  generate: {
    usage:
      'generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [--max-tokens N] [--greedy] [--temperature T --top-k K --top-p P --seed S] [--quant none|int8|int4] [--ep LIST] [--json] [--progress]',
    about: 'prints the continuation of a prompt (with --json: ids, text, prefill/decode tok/s, provider, build cache hit)',
  },
  tokenize: { usage: 'tokenize --model DIR', about: 'JSON lines {"text": ...} on stdin -> {"ids": [...]} on stdout (no special tokens added)' },
  info: {
    usage: 'info --model DIR [--ep LIST] [--quant none|int8|int4] [--context N] [--memory-budget SIZE] [--json]',
    about:
      'architecture, parameters (total / active), KV bytes per token and the cache at 128K / 1M tokens, weights per quantisation, the fit at --context N (default the model\'s, capped at 32768) in --memory-budget SIZE (default 80% of this machine\'s memory), the execution provider, and where the routed experts would run; from config.json alone (a folder holding only config.json is enough for DeepSeek-V4)',
  },
  fidelity: {
    usage: 'fidelity [--oracle DIR] [--quant none|int8|int4] [--ep LIST] [--tolerance X]',
    about: 'checks every case folder in DIR (default ../shared/oracle) against its recorded reference; exit 0 only if all pass',
  },
  serve: {
    usage: 'serve --model DIR [--port P] [--context N] [--quant none|int8|int4] [--ep LIST] [--model-id NAME] [--no-suffix]',
    about:
      'an OpenAI-compatible HTTP server on 127.0.0.1 (/v1/models, /v1/completions with suffix, /v1/chat/completions, SSE, /tokenize); ' +
      '--no-suffix refuses suffix and reads special tokens in prompts, as vLLM does',
  },
  download: {
    usage: 'download OWNER/NAME [--dir D] [--revision R] [--hub-url U]',
    about: 'downloads a model from the Hugging Face hub ($HF_TOKEN for gated repos), resuming and verifying each file',
  },
  models: { usage: 'models [--dir D] [--json]', about: 'lists the models folder: size, complete / partial / invalid, architecture' },
};

const COMMON =
  'Common options: --ep LIST (execution providers in order of preference, default webgpu,cuda,dml,coreml,cpu; the CPU is the last resort), ' +
  '--cache-dir DIR (default $XDG_CACHE_HOME/switchyard or ~/.cache/switchyard), --verbose (stack traces on errors), --help.\n' +
  'Environment: SWITCHYARD_EXPERTS=fused|dispatch (how routed experts run on the CPU), SWITCHYARD_GPU_MEMORY_BUDGET=8GiB (GPU memory for the weights).';

export function generalHelp(): string {
  const width = Math.max(...Object.keys(COMMAND_HELP).map((c) => c.length));
  const rows = Object.entries(COMMAND_HELP).map(([c, h]) => `  ${c.padEnd(width)}  ${h.about}`);
  return ['usage: engine <command> [options]', '', 'Commands:', ...rows, '', COMMON, '', "Run 'engine <command> --help' for a command's options.", ''].join('\n');
}

export function commandHelp(cmd: string): string {
  const h = COMMAND_HELP[cmd]!;
  return [`usage: engine ${h.usage}`, '', h.about, '', COMMON, ''].join('\n');
}

export function wantsHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}
