#!/bin/bash
# After-remove script of the .deb and .rpm (see after-install.tpl): removes the /usr/bin/netkeeper command
# line link and the AppArmor profile.

app_dir='/opt/${sanitizedProductName}'
cli="$app_dir/resources/bin/netkeeper"
link='/usr/bin/netkeeper'

if type update-alternatives >/dev/null 2>&1; then
    update-alternatives --remove netkeeper "$cli" >/dev/null 2>&1 || true
fi
# A plain link (no update-alternatives, or its fallback) that still points at this package's wrapper.
if [ -L "$link" ] && [ "$(readlink "$link")" = "$cli" ]; then
    rm -f "$link"
fi

profile='/etc/apparmor.d/${executable}'
if [ -f "$profile" ]; then
    if apparmor_status --enabled >/dev/null 2>&1; then
        if ! { [ -x /usr/bin/ischroot ] && /usr/bin/ischroot; } && hash apparmor_parser 2>/dev/null; then
            apparmor_parser --remove "$profile" || true
        fi
    fi
    rm -f "$profile"
fi
