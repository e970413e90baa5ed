import { useMemo, useState } from "react";
import { Link } from "react-router-dom";
import type { NamespaceSummary } from "../../api.js";
import { Empty } from "../../ui.js";
import { buildTree, type TreeNode } from "./model.js";

/**
 * The namespaces as a tree of path segments (`production/ml-service` under `production`). Each namespace is
 * a link to `?ns=<path>` (so the choice survives reloads and can be shared); folders fold with a button.
 */
export function NamespaceTree({
  namespaces,
  selected,
  linkFor,
}: {
  namespaces: NamespaceSummary[];
  selected: string | undefined;
  linkFor: (path: string) => string;
}) {
  const [filter, setFilter] = useState("");
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  const tree = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    return buildTree(needle ? namespaces.filter((n) => n.path.toLowerCase().includes(needle)) : namespaces);
  }, [namespaces, filter]);
  const toggle = (path: string) =>
    setCollapsed((previous) => {
      const next = new Set(previous);
      if (next.has(path)) next.delete(path);
      else next.add(path);
      return next;
    });

  return (
    <nav className="card ns-tree" aria-label="Namespaces">
      <div className="field">
        <label htmlFor="ns-filter">Namespaces</label>
        <input id="ns-filter" type="search" placeholder="Filter" value={filter} onChange={(e) => setFilter(e.target.value)} />
      </div>
      {tree.length === 0 ? (
        <Empty>{namespaces.length ? "No namespace matches." : "No namespaces yet: create a key to start one."}</Empty>
      ) : (
        <ul className="ns-list">
          {tree.map((node) => (
            <Branch key={node.path} node={node} selected={selected} collapsed={collapsed} toggle={toggle} linkFor={linkFor} />
          ))}
        </ul>
      )}
    </nav>
  );
}

function Branch({
  node,
  selected,
  collapsed,
  toggle,
  linkFor,
}: {
  node: TreeNode;
  selected: string | undefined;
  collapsed: ReadonlySet<string>;
  toggle: (path: string) => void;
  linkFor: (path: string) => string;
}) {
  const open = !collapsed.has(node.path);
  const hasChildren = node.children.length > 0;
  return (
    <li>
      <div className="ns-node">
        {hasChildren ? (
          <button
            type="button"
            className="link ns-toggle"
            aria-expanded={open}
            aria-label={`${open ? "Collapse" : "Expand"} ${node.path}`}
            onClick={() => toggle(node.path)}
          >
            <span aria-hidden="true">{open ? "▾" : "▸"}</span>
          </button>
        ) : (
          <span className="ns-toggle" aria-hidden="true" />
        )}
        {node.namespace ? (
          <Link
            to={linkFor(node.path)}
            className={`ns-link${selected === node.path ? " selected" : ""}`}
            aria-current={selected === node.path ? "page" : undefined}
            title={node.path}
          >
            {node.name}
            {node.keys ? <span className="muted ns-count"> {node.keys}</span> : null}
          </Link>
        ) : (
          <span className="ns-folder" title={node.path}>
            {node.name}
          </span>
        )}
      </div>
      {hasChildren && open ? (
        <ul className="ns-list">
          {node.children.map((child) => (
            <Branch key={child.path} node={child} selected={selected} collapsed={collapsed} toggle={toggle} linkFor={linkFor} />
          ))}
        </ul>
      ) : null}
    </li>
  );
}
