import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

/**
 * A page's `<h1>`, focused when the page opens so a screen reader starts there after navigation (the page changes
 * without a load), with the page's main actions beside it.
 */
export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    // Not on the first page of a load: the browser's own start (the top of the page) is right there.
    if (document.body.dataset.navigated === 'true') {
      heading.current?.focus();
    }
    document.body.dataset.navigated = 'true';
    document.title = `${title} · Mailroom console`;
  }, [title]);
  return (
    <div class="page-header">
      <h1 ref={heading} tabIndex={-1}>
        {title}
      </h1>
      {children && <div class="page-actions">{children}</div>}
    </div>
  );
}
