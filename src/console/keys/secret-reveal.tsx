import type { ComponentChildren } from 'preact';
import { useId, useRef } from 'preact/hooks';
import { CopyButton } from '../ui/copy-button.tsx';

/**
 * A secret (an API key, a webhook signing secret), shown this once: the server's warning (`meta.warning`), the key in a read-only field with "Copy",
 * and "Done". Nothing keeps it: closing the dialog or leaving the page loses it.
 */
export function SecretReveal({
  apiKey,
  warning,
  onDone,
  children,
  label = 'API key',
  advice = 'Copy it now and keep it somewhere safe, such as a secrets manager. Leaving this page loses it.',
}: {
  apiKey: string;
  warning: string;
  onDone: () => void;
  children?: ComponentChildren;
  /** What the secret is, as its field's label: "API key", "Signing secret". */
  label?: string;
  advice?: string;
}) {
  const id = useId();
  const field = useRef<HTMLInputElement>(null);
  return (
    <div class="secret">
      <div class="notice notice-warning">
        <p class="notice-title">{warning}</p>
        <p>{advice}</p>
      </div>
      <label for={id}>{label}</label>
      <div class="secret-row">
        <input
          ref={field}
          id={id}
          class="mono"
          readOnly
          value={apiKey}
          spellcheck={false}
          data-initial-focus
          onFocus={(event) => event.currentTarget.select()}
        />
        <CopyButton text={apiKey} field={field} />
      </div>
      {children}
      <div class="buttons">
        <button type="button" class="primary" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}
