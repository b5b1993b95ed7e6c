/**
 * Inline validation for a form, the same way in every dialog: a field is checked once it has been left (or
 * the form submitted), with the caller's `validate` (the parsers and schemas the core uses); a refusal from
 * the core lands on the field its VALIDATION error names and stays there until that field is edited; what
 * names no field of the form becomes the form's error. The field errors go to FormField's `error`.
 */
import { computed, nextTick, reactive, ref, type Ref } from 'vue'
import { fieldOf, reasonOf, userMessage } from '@renderer/lib/errors'

export interface FieldErrorsOptions<F extends string> {
  /** The fields checked, in order (a function when it depends on the form, e.g. fields shown only on create). */
  fields: readonly F[] | (() => readonly F[])
  /** The field's error now, or undefined when it is valid. */
  validate: (field: F) => string | undefined
  /** The form: after a failed submit or a refusal, focus goes to its first control marked aria-invalid. */
  form?: Ref<HTMLElement | undefined>
  /** Maps the field a refusal names (`fieldOf`) to a field of this form; by default the name itself. */
  fieldOf?: (named: string | undefined) => F | undefined
}

export function useFieldErrors<F extends string>(options: FieldErrorsOptions<F>) {
  const fields = (): readonly F[] => (typeof options.fields === 'function' ? options.fields() : options.fields)
  const touched = reactive<Partial<Record<F, boolean>>>({}) as Partial<Record<F, boolean>>
  const refused = reactive<Partial<Record<F, string>>>({}) as Partial<Record<F, string>>
  const submitted = ref(false)
  /** An error about no one field (shown above the form). */
  const formError = ref<string>()

  const errors = computed(() => {
    const out: Partial<Record<F, string>> = {}
    for (const f of fields()) {
      const msg = (touched[f] || submitted.value ? options.validate(f) : undefined) ?? refused[f]
      if (msg) out[f] = msg
    }
    return out
  })
  const hasErrors = computed(() => Object.keys(errors.value).length > 0)

  /** The control was left: check it from now on. */
  function touch(f: F): void {
    touched[f] = true
  }

  /** The field's refusal is moot once the field is edited. */
  function clearRefusal(f: F): void {
    delete refused[f]
  }

  /** Typing in a field clears its refusal and the form's error. */
  function onInput(f: F): void {
    clearRefusal(f)
    formError.value = undefined
  }

  async function focusFirstError(): Promise<void> {
    if (!options.form) return
    await nextTick()
    options.form.value?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus()
  }

  /** On submit: checks every field from now on; false (with the focus on the first bad field) when one is wrong. */
  async function checkAll(): Promise<boolean> {
    submitted.value = true
    formError.value = undefined
    if (!hasErrors.value) return true
    await focusFirstError()
    return false
  }

  /**
   * What the core refused: on the field it names when `accept` takes that field (by default: when this form
   * checks it), with the focus moved there; otherwise as the form's error, worded for a person.
   */
  async function refuse(e: unknown, accept: (f: F) => boolean = (f) => fields().includes(f)): Promise<void> {
    const named = fieldOf(e)
    const f = options.fieldOf ? options.fieldOf(named) : (named as F | undefined)
    if (f && accept(f)) {
      refused[f] = reasonOf(e)
      await focusFirstError()
    } else {
      formError.value = userMessage(e)
    }
  }

  return { touched, submitted, formError, errors, hasErrors, touch, onInput, clearRefusal, focusFirstError, checkAll, refuse }
}
