const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const TIME = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** A timestamp for people: "12 Mar 2026, 14:05" in the reader's locale and time zone. */
export function formatDateTime(iso: string): string {
  return DATE_TIME.format(new Date(iso));
}

/** The day of a moment: "12 Mar 2026". */
export function formatDate(iso: string): string {
  return DATE.format(new Date(iso));
}

/** The time of day of a moment: "14:05". */
export function formatTime(date: Date): string {
  return TIME.format(date);
}

/**
 * How long ago or how far ahead a moment is: "3 minutes ago", "in 90 minutes", "in 2 days". A unit is used from two
 * of it up, so a 90-minute grace period reads "in 90 minutes", not "in 1 hour".
 */
export function formatRelative(iso: string, now = Date.now()): string {
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  const steps: [Intl.RelativeTimeFormatUnit, number][] = [
    ['day', 86_400],
    ['hour', 3_600],
    ['minute', 60],
  ];
  for (const [unit, size] of steps) {
    if (Math.abs(seconds) >= 2 * size) {
      return RELATIVE.format(Math.trunc(seconds / size), unit);
    }
  }
  return Math.abs(seconds) >= 60
    ? RELATIVE.format(Math.trunc(seconds / 60), 'minute')
    : RELATIVE.format(seconds, 'second');
}

/** A wait in words, rounded up to what a person would count: "45 seconds", "15 minutes", "2 hours". */
export function formatWait(seconds: number): string {
  const [value, unit] =
    seconds < 90
      ? [seconds, 'second']
      : seconds < 5400
        ? [Math.ceil(seconds / 60), 'minute']
        : [Math.ceil(seconds / 3600), 'hour'];
  return `${value} ${unit}${value === 1 ? '' : 's'}`;
}

/** A grace period in minutes, in words: "0 minutes (at once)", "1 hour", "24 hours", "7 days". */
export function formatMinutes(minutes: number): string {
  if (minutes === 0) {
    return 'none: the old key stops at once';
  }
  if (minutes % 1440 === 0 && minutes >= 2880) {
    return `${minutes / 1440} days`;
  }
  if (minutes % 60 === 0) {
    return `${minutes / 60} hour${minutes === 60 ? '' : 's'}`;
  }
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}
