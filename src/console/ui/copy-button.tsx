import { useState } from 'preact/hooks';

/**
 * A "Copy" button for a secret or an id, with a polite status beside it. Without the clipboard API (a page served over
 * plain HTTP from another host is not a secure context) it selects the text (an input's value, or an element's text)
 * for the reader to copy by hand. `label` completes the button's accessible name where several sit on one page
 * ("Copy request id 9f1c…"); it is read, not shown.
 */
export function CopyButton({
  text,
  field,
  label,
}: {
  text: string;
  field?: { current: HTMLElement | null };
  label?: string;
}) {
  const [state, setState] = useState<'idle' | 'copied' | 'manual'>('idle');
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      const element = field?.current;
      if (element instanceof HTMLInputElement) {
        element.select();
      } else if (element) {
        window.getSelection()?.selectAllChildren(element);
      }
      setState('manual');
    }
  }
  return (
    <span class="copy">
      <button type="button" onClick={copy}>
        Copy
        {label && <span class="visually-hidden"> {label}</span>}
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
