import type { FunctionComponent } from 'preact';
import { useId } from 'preact/hooks';
import { ALL_PERMISSIONS, PERMISSIONS, READ_PERMISSIONS } from '../../lib/permissions.ts';
import { type Failure, fieldMessages } from '../ui/failure.ts';
import { Field, TextField } from '../ui/field.tsx';
import { ENVIRONMENTS } from './environments.ts';
import type { CreateKeyBody } from './types.ts';

/** A field's value as its control holds it: a string for inputs and selects, the checked values for a group. */
export type KeyFieldValue = string | readonly string[];

/** What each field of the create dialog gets: its value and the last failure. */
export interface KeyFieldProps {
  value: KeyFieldValue;
  onValue: (value: KeyFieldValue) => void;
  failure: Failure | undefined;
}

/** A field of the create dialog: the body field it fills, its control, and its part of the request body. */
export interface CreateKeyField {
  /** The request body's field: the server's `details` for it (and its items, `permissions.0`) show beneath it. */
  name: keyof CreateKeyBody & string;
  initial: KeyFieldValue;
  Input: FunctionComponent<KeyFieldProps>;
  /** The value as the body carries it; undefined leaves the field out (the server's default applies). */
  toBody: (value: KeyFieldValue) => unknown;
}

/** A number as typed: left out when empty, a number when it is one, else as typed (the server says what is wrong). */
function optionalNumber(value: KeyFieldValue): unknown {
  const text = String(value);
  if (text.trim() === '') {
    return undefined;
  }
  const number = Number(text);
  return Number.isFinite(number) ? number : text;
}

const EXPIRY_PRESETS = [
  ['', 'Never'],
  ['30', 'In 30 days'],
  ['90', 'In 90 days'],
  ['365', 'In 1 year'],
] as const;

/** Expiry: a preset, or a number of days typed after choosing "Other". */
const ExpiryInput: FunctionComponent<KeyFieldProps> = ({ value, onValue, failure }) => {
  const text = String(value);
  const preset = EXPIRY_PRESETS.some(([days]) => days === text) ? text : 'other';
  const selectId = useId();
  return (
    <div class="field-group">
      <div class="field">
        <label for={selectId}>Expires</label>
        <select
          id={selectId}
          value={preset}
          onChange={(event) => onValue(event.currentTarget.value === 'other' ? '180' : event.currentTarget.value)}
        >
          {EXPIRY_PRESETS.map(([days, label]) => (
            <option key={days} value={days}>
              {label}
            </option>
          ))}
          <option value="other">Other…</option>
        </select>
      </div>
      {preset === 'other' || fieldMessages(failure, 'expirationDays').length > 0 ? (
        <TextField
          label="Days until it expires"
          name="expirationDays"
          type="number"
          inputMode="numeric"
          value={text}
          onValue={onValue}
          failure={failure}
          hint="1 to 365 days."
        />
      ) : null}
    </div>
  );
};

/** Environment: where the key is used (production unless chosen). */
const EnvironmentInput: FunctionComponent<KeyFieldProps> = ({ value, onValue, failure }) => (
  <Field
    label="Environment"
    name="environment"
    failure={failure}
    hint="Use one key per environment: revoke one without touching the others, and see each one's usage apart."
  >
    {(control) => (
      <select {...control} value={String(value)} onChange={(event) => onValue(event.currentTarget.value)}>
        {ENVIRONMENTS.map((environment) => (
          <option key={environment} value={environment}>
            {environment}
          </option>
        ))}
      </select>
    )}
  </Field>
);

/**
 * Permissions: one checkbox per permission of the spec's table (generated/permissions.js, the table the server
 * enforces), all checked at first, with "Full access" and "Read only" to set the usual two at once. Nothing is
 * checked for the reader: an empty set is sent as it is, and the server's message shows beneath the group.
 */
const PermissionsInput: FunctionComponent<KeyFieldProps> = ({ value, onValue, failure }) => {
  const id = useId();
  const checked = new Set(Array.isArray(value) ? value : []);
  const messages = fieldMessages(failure, 'permissions');
  const describedBy = [messages.length > 0 ? `${id}-error` : '', `${id}-hint`].filter(Boolean).join(' ');
  function toggle(permission: string, on: boolean) {
    const next = new Set(checked);
    if (on) {
      next.add(permission);
    } else {
      next.delete(permission);
    }
    // In the spec's order, whatever order they were clicked in.
    onValue(ALL_PERMISSIONS.filter((p) => next.has(p)));
  }
  return (
    <fieldset
      class={`choices permissions${messages.length > 0 ? ' field-invalid' : ''}`}
      aria-describedby={describedBy}
      aria-invalid={messages.length > 0 ? 'true' : undefined}
    >
      <legend>Permissions</legend>
      <p class="hint permissions-hint" id={`${id}-hint`}>
        What the key may do. Each <code>/v1</code> operation needs one; without it the key is refused with 403.
      </p>
      <div class="buttons shorthand">
        <button type="button" onClick={() => onValue(ALL_PERMISSIONS)}>
          Full access
        </button>
        <button type="button" onClick={() => onValue(READ_PERMISSIONS)}>
          Read only
        </button>
      </div>
      {PERMISSIONS.map(({ permission, description }) => (
        <div key={permission} class="check">
          <input
            type="checkbox"
            id={`${id}-${permission}`}
            name="permissions"
            value={permission}
            checked={checked.has(permission)}
            aria-describedby={`${id}-${permission}-about`}
            onChange={(event) => toggle(permission, event.currentTarget.checked)}
          />
          <label for={`${id}-${permission}`}>
            <code>{permission}</code>
          </label>
          <span class="hint" id={`${id}-${permission}-about`}>
            {description}
          </span>
        </div>
      ))}
      {messages.length > 0 && (
        <p class="field-error" id={`${id}-error`}>
          {messages.join('; ')}
        </p>
      )}
    </fieldset>
  );
};

/**
 * The create dialog's fields after the name, in order: each is one entry, its control and its part of the body. The
 * permissions are sent as a list (the `access` shorthand is what the two buttons stand for).
 */
export const CREATE_KEY_FIELDS: readonly CreateKeyField[] = [
  { name: 'environment', initial: 'production', Input: EnvironmentInput, toBody: (value) => value },
  { name: 'permissions', initial: ALL_PERMISSIONS, Input: PermissionsInput, toBody: (value) => value },
  { name: 'expirationDays', initial: '', Input: ExpiryInput, toBody: optionalNumber },
  {
    name: 'rateLimit',
    initial: '',
    Input: ({ value, onValue, failure }) => (
      <TextField
        label="Rate limit, requests per minute (optional)"
        name="rateLimit"
        type="number"
        inputMode="numeric"
        value={String(value)}
        onValue={onValue}
        failure={failure}
        hint="Its own limit, on top of the organization's plan, which all its keys share. Empty: the plan's only."
      />
    ),
    toBody: optionalNumber,
  },
];
