import type { ComponentChildren } from 'preact';
import { useId } from 'preact/hooks';
import { type Failure, fieldMessages } from './failure.ts';

/** What a control inside a {@link Field} spreads onto itself: its id, name and the ARIA that ties it to its texts. */
export interface ControlProps {
  id: string;
  name: string;
  'aria-invalid'?: 'true';
  'aria-describedby'?: string;
}

interface FieldProps {
  label: string;
  /** The body field it edits: the server's `details[name]` are shown beneath it. */
  name: string;
  failure?: Failure | undefined;
  hint?: ComponentChildren;
  children: (control: ControlProps) => ComponentChildren;
}

/** A labelled control with its hint and the server's messages for it, tied to it by `aria-describedby`. */
export function Field({ label, name, failure, hint, children }: FieldProps) {
  const id = useId();
  const messages = fieldMessages(failure, name);
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = messages.length > 0 ? `${id}-error` : undefined;
  const describedBy = [errorId, hintId].filter(Boolean).join(' ');
  return (
    <div class={`field${messages.length > 0 ? ' field-invalid' : ''}`}>
      <label for={id}>{label}</label>
      {children({
        id,
        name,
        ...(messages.length > 0 ? { 'aria-invalid': 'true' as const } : {}),
        ...(describedBy ? { 'aria-describedby': describedBy } : {}),
      })}
      {hint && (
        <p class="hint" id={hintId}>
          {hint}
        </p>
      )}
      {errorId && (
        <p class="field-error" id={errorId}>
          {messages.join('; ')}
        </p>
      )}
    </div>
  );
}

/** A text-like input in a {@link Field}: `value` is a string, `onValue` gets the new one. */
export function TextField(
  props: Omit<FieldProps, 'children'> & {
    value: string;
    onValue: (value: string) => void;
    type?: 'text' | 'email' | 'password' | 'number';
    autoComplete?: string;
    required?: boolean;
    /** Focused when its dialog opens. */
    initialFocus?: boolean;
    inputMode?: 'numeric';
  },
) {
  const { value, onValue, type = 'text', autoComplete, required, initialFocus, inputMode, ...field } = props;
  return (
    <Field {...field}>
      {(control) => (
        <input
          {...control}
          // Preact types each input type apart; all four take the same attributes here.
          type={type as 'text'}
          value={value}
          onInput={(event) => onValue(event.currentTarget.value)}
          autoComplete={autoComplete}
          required={required}
          data-initial-focus={initialFocus}
          inputMode={inputMode}
        />
      )}
    </Field>
  );
}
