import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef } from 'preact/hooks';

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea, [tabindex]';

/**
 * A modal dialog: the native `<dialog>` opened with `showModal()` (the page behind is inert), titled by its heading,
 * with Tab and Shift+Tab kept inside it, Escape calling `onClose`, and focus given back to whatever had it before
 * (or to the page's heading, when that control is gone or going: a revoked key's row). Render it to open it; stop
 * rendering it to close it.
 */
export function Dialog({
  title,
  onClose,
  children,
  wide = false,
  returnFocus,
}: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  wide?: boolean;
  /**
   * Where focus goes on close, asked at close: back to the opener (the default), or to the page's heading when the
   * opener's row is going away (a revoked key's).
   */
  returnFocus?: () => 'opener' | 'heading';
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const returnTo = useRef(returnFocus);
  returnTo.current = returnFocus;
  useEffect(() => {
    const dialog = ref.current;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    dialog?.showModal();
    // The control the dialog marks (a safe "Cancel", the first field), else the first one, as showModal chose.
    dialog?.querySelector<HTMLElement>('[data-initial-focus]')?.focus();
    return () => {
      if (dialog?.open) {
        dialog.close();
      }
      const target =
        (returnTo.current?.() ?? 'opener') === 'opener' && opener?.isConnected
          ? opener
          : document.querySelector<HTMLElement>('main h1');
      target?.focus();
    };
  }, []);

  function keepFocusInside(event: KeyboardEvent) {
    if (event.key !== 'Tab' || !ref.current) {
      return;
    }
    const focusable = Array.from(ref.current.querySelectorAll<HTMLElement>(FOCUSABLE)).filter(
      (element) => element.tabIndex >= 0 && element.getClientRects().length > 0,
    );
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (!first || !last) {
      return;
    }
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  }

  return (
    <dialog
      ref={ref}
      class={`dialog${wide ? ' dialog-wide' : ''}`}
      aria-labelledby={titleId}
      onKeyDown={keepFocusInside}
      onCancel={(event) => {
        // Escape: the owner decides (it stops rendering the dialog), so the dialog never closes behind its back.
        event.preventDefault();
        onClose();
      }}
    >
      <h2 id={titleId}>{title}</h2>
      {children}
    </dialog>
  );
}
