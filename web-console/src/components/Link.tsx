import type { ComponentChildren } from "preact";
import { href, navigate } from "../lib/router";

/** An in-app link: a real <a href> (so it opens in a new tab too) that navigates in place. */
export function Link({ to, children, class: className }: { to: string; children: ComponentChildren; class?: string }) {
  return (
    <a
      href={href(to)}
      class={className}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}
