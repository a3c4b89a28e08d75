import { formatDate, formatDateTime, formatRelative } from './format.ts';

/**
 * A moment as a `<time>`: the date and time, the date alone (a narrow column), or how long ago / how far ahead; the
 * full date and time in its title whenever the text is shorter.
 */
export function Time({
  iso,
  relative = false,
  dateOnly = false,
}: {
  iso: string;
  relative?: boolean;
  dateOnly?: boolean;
}) {
  const text = relative ? formatRelative(iso) : dateOnly ? formatDate(iso) : formatDateTime(iso);
  return (
    <time dateTime={iso} title={relative || dateOnly ? formatDateTime(iso) : iso}>
      {text}
    </time>
  );
}
