import type { ComponentChildren } from "preact";

let nextId = 0;
/** A stable id for a label/control pair. */
export function fieldId(prefix: string): string {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** A labelled control; `children` receives the id to put on the control. */
export function Field({ label, hint, id, children }: { label: string; hint?: string; id: string; children: ComponentChildren }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children}
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
    </div>
  );
}

export function TextField(props: {
  label: string;
  value: string;
  onInput: (value: string) => void;
  type?: string;
  required?: boolean;
  hint?: string;
  placeholder?: string;
  autoComplete?: string;
  name?: string;
}) {
  const id = `f-${(props.name ?? props.label).toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <Field label={props.label} hint={props.hint} id={id}>
      <input
        id={id}
        name={props.name ?? id}
        type={props.type ?? "text"}
        value={props.value}
        required={props.required}
        placeholder={props.placeholder}
        autoComplete={props.autoComplete}
        aria-describedby={props.hint ? `${id}-hint` : undefined}
        onInput={(e) => props.onInput((e.currentTarget as HTMLInputElement).value)}
      />
    </Field>
  );
}

export function SelectField(props: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  options: { value: string; label: string }[];
  hint?: string;
  name?: string;
}) {
  const id = `f-${(props.name ?? props.label).toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <Field label={props.label} hint={props.hint} id={id}>
      <select id={id} name={props.name ?? id} value={props.value} onChange={(e) => props.onChange((e.currentTarget as HTMLSelectElement).value)}>
        {props.options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </Field>
  );
}
