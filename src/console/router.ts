import { useEffect, useState } from 'preact/hooks';

/**
 * Where the console is: the hash of `/console#/…`, so the server serves one page and a reload keeps the place.
 * `section` names a module of modules.ts (an organization's page, or an account page); `item`, when present, is what
 * that page opens on (the usage page's key: `#/organizations/{id}/usage/{keyId}`).
 */
export type Route =
  | { name: 'login' }
  | { name: 'signup' }
  | { name: 'home' }
  | { name: 'organization'; organizationId: string; section: string; item?: string }
  | { name: 'account'; section: string };

/** The route a hash names; anything unknown is home (the first organization's first page). */
export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [first, second, third, fourth] = parts;
  if (first === 'login' || first === 'signup') {
    return { name: first };
  }
  if (first === 'organizations' && second) {
    return { name: 'organization', organizationId: second, section: third ?? '', ...(fourth ? { item: fourth } : {}) };
  }
  if (first === 'account') {
    return { name: 'account', section: second ?? '' };
  }
  return { name: 'home' };
}

/** The href of a route. */
export function hrefOf(route: Route): string {
  switch (route.name) {
    case 'organization':
      return `#/organizations/${encodeURIComponent(route.organizationId)}/${encodeURIComponent(route.section)}${
        route.item ? `/${encodeURIComponent(route.item)}` : ''
      }`;
    case 'account':
      return `#/account/${encodeURIComponent(route.section)}`;
    case 'home':
      return '#/';
    default:
      return `#/${route.name}`;
  }
}

/** Goes to a route (a history entry, as a link would make). */
export function navigate(route: Route): void {
  window.location.hash = hrefOf(route);
}

/** The current route, following the hash. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
