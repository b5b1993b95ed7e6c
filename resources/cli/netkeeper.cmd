@echo off
rem `netkeeper`: the command line of an installed Netkeeper (docs/cli.md, docs/packaging.md).
rem Shipped in resources\bin\ of the installation folder; add that folder to PATH once. It runs the
rem app's own Netkeeper.exe in its command-line mode and passes on its exit code (0 done, 1 failed, 2 usage).
"%~dp0..\..\Netkeeper.exe" --netkeeper-cli %*
exit /b %ERRORLEVEL%
