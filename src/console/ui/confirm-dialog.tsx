import type { ComponentChildren } from 'preact';
import { Dialog } from './dialog.tsx';
import { ErrorNotice } from './error-notice.tsx';
import type { Failure } from './failure.ts';

/**
 * A confirmation: what the action does (the children), the server's refusal if it had one, the action's button and
 * "Cancel", which has the focus (the safe choice). The key, webhook, member and session dialogs that revoke, delete,
 * rotate, remove or end something are this one block.
 */
export function ConfirmDialog({
  title,
  confirmLabel,
  onConfirm,
  onClose,
  pending,
  failure,
  tone = 'danger',
  wide = false,
  gone,
  children,
}: {
  title: string;
  confirmLabel: string;
  onConfirm: () => void;
  onClose: () => void;
  pending: boolean;
  failure: Failure | undefined;
  /** `danger` for what can't be undone, `primary` for the rest. */
  tone?: 'danger' | 'primary';
  wide?: boolean;
  /** True once the action removed the row of the button that opened the dialog: focus then goes to the heading. */
  gone?: () => boolean;
  children: ComponentChildren;
}) {
  return (
    <Dialog
      title={title}
      onClose={onClose}
      wide={wide}
      returnFocus={gone ? () => (gone() ? 'heading' : 'opener') : undefined}
    >
      <ErrorNotice failure={failure} />
      {children}
      <div class="buttons">
        <button type="button" class={tone} onClick={onConfirm} disabled={pending}>
          {confirmLabel}
        </button>
        <button type="button" onClick={onClose} data-initial-focus>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}
