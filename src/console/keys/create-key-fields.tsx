import type { FunctionComponent } from 'preact';
import { useId } from 'preact/hooks';
import { type Failure, fieldMessages } from '../ui/failure.ts';
import { Field, TextField } from '../ui/field.tsx';
import type { CreateKeyBody } from './types.ts';

/** What each field of the create dialog gets: its value (a string, as inputs hold them) and the last failure. */
export interface KeyFieldProps {
  value: string;
  onValue: (value: string) => void;
  failure: Failure | undefined;
}

/** A field of the create dialog: the body field it fills, its control, and its part of the request body. */
export interface CreateKeyField {
  /** The request body's field: the server's `details` for it are shown beneath the control. */
  name: keyof CreateKeyBody & string;
  initial: string;
  Input: FunctionComponent<KeyFieldProps>;
  /** The value as the body carries it; undefined leaves the field out (the server's default applies). */
  toBody: (value: string) => unknown;
}

/** A number as typed: left out when empty, a number when it is one, else as typed (the server says what is wrong). */
function optionalNumber(value: string): unknown {
  if (value.trim() === '') {
    return undefined;
  }
  const number = Number(value);
  return Number.isFinite(number) ? number : value;
}

const EXPIRY_PRESETS = [
  ['', 'Never'],
  ['30', 'In 30 days'],
  ['90', 'In 90 days'],
  ['365', 'In 1 year'],
] as const;

/** Expiry: a preset, or a number of days typed after choosing "Other". */
const ExpiryInput: FunctionComponent<KeyFieldProps> = ({ value, onValue, failure }) => {
  const preset = EXPIRY_PRESETS.some(([days]) => days === value) ? value : 'other';
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
          value={value}
          onValue={onValue}
          failure={failure}
          hint="1 to 365 days."
        />
      ) : null}
    </div>
  );
};

/** Access: full (read and write) or read only. */
const AccessInput: FunctionComponent<KeyFieldProps> = ({ value, onValue, failure }) => (
  <Field label="Access" name="access" failure={failure}>
    {(control) => (
      <select {...control} value={value} onChange={(event) => onValue(event.currentTarget.value)}>
        <option value="full">Full access: read and write</option>
        <option value="read_only">Read only: every write is refused (403)</option>
      </select>
    )}
  </Field>
);

/**
 * The create dialog's fields after the name, in order. The environment and the permissions (which take over from
 * `access`) are entries here when that API lands.
 */
export const CREATE_KEY_FIELDS: readonly CreateKeyField[] = [
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
        value={value}
        onValue={onValue}
        failure={failure}
        hint="Its own limit, on top of the organization's plan, which all its keys share. Empty: the plan's only."
      />
    ),
    toBody: optionalNumber,
  },
  { name: 'access', initial: 'full', Input: AccessInput, toBody: (value) => value },
];
