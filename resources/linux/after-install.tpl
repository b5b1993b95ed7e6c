#!/bin/bash
# After-install script of the .deb and .rpm (electron-builder deb/rpm afterInstall; it fills in the
# executable and product-folder macros). It does what electron-builder's own after-install does, except
# that /usr/bin/netkeeper is the command line (resources/bin/netkeeper, a wrapper that runs the app in its
# --netkeeper-cli mode), not the GUI: the GUI starts from its desktop entry, which runs the app binary.
# See docs/packaging.md.

app_dir='/opt/${sanitizedProductName}'
cli="$app_dir/resources/bin/netkeeper"
link='/usr/bin/netkeeper'

chmod 0755 "$cli" || true

if type update-alternatives >/dev/null 2>&1; then
    # A link left by an older package that pointed straight at a binary is replaced by the managed one.
    if [ -L "$link" ] && [ "$(readlink "$link")" != '/etc/alternatives/netkeeper' ]; then
        rm -f "$link"
    fi
    # Earlier packages registered the GUI binary as the netkeeper alternative: drop that registration.
    update-alternatives --remove netkeeper "$app_dir/${executable}" >/dev/null 2>&1 || true
    update-alternatives --install "$link" netkeeper "$cli" 100 || ln -sf "$cli" "$link"
else
    ln -sf "$cli" "$link"
fi

# Chromium's sandbox helper must be setuid root only where unprivileged user namespaces are unavailable.
if ! { [[ -L /proc/self/ns/user ]] && unshare --user true; }; then
    chmod 4755 "$app_dir/chrome-sandbox" || true
else
    chmod 0755 "$app_dir/chrome-sandbox" || true
fi

if hash update-mime-database 2>/dev/null; then
    update-mime-database /usr/share/mime || true
fi
if hash update-desktop-database 2>/dev/null; then
    update-desktop-database /usr/share/applications || true
fi

# The AppArmor profile electron-builder ships (Ubuntu 24.04 and later restrict unprivileged user namespaces
# to profiled programs): installed only where this AppArmor accepts it.
if apparmor_status --enabled >/dev/null 2>&1; then
    profile_src="$app_dir/resources/apparmor-profile"
    profile_dst='/etc/apparmor.d/${executable}'
    if apparmor_parser --skip-kernel-load --debug "$profile_src" >/dev/null 2>&1; then
        cp -f "$profile_src" "$profile_dst"
        if ! { [ -x /usr/bin/ischroot ] && /usr/bin/ischroot; } && hash apparmor_parser 2>/dev/null; then
            apparmor_parser --replace --write-cache --skip-read-cache "$profile_dst"
        fi
    else
        echo "Skipping the AppArmor profile: this AppArmor does not support it"
    fi
fi
