import { useState } from 'preact/hooks';

/**
 * A "Copy" button for a secret, with a polite status beside it. Without the clipboard API (a page served over plain
 * HTTP from another host is not a secure context) it selects the text for the reader to copy by hand.
 */
export function CopyButton({ text, field }: { text: string; field?: { current: HTMLInputElement | null } }) {
  const [state, setState] = useState<'idle' | 'copied' | 'manual'>('idle');
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      field?.current?.select();
      setState('manual');
    }
  }
  return (
    <span class="copy">
      <button type="button" onClick={copy}>
        Copy
      </button>
      <span class="copy-status" role="status">
        {state === 'copied'
          ? 'Copied to the clipboard'
          : state === 'manual'
            ? 'Selected: press Ctrl+C (⌘C) to copy'
            : ''}
      </span>
    </span>
  );
}
