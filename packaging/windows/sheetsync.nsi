; Sheet Sync installer for Windows (NSIS 3, Unicode).
;
; A per-user install: no administrator rights, no UAC prompt. The app goes to
; %LOCALAPPDATA%\Programs\Sheet Sync, its shortcut to the user's Start menu, its
; uninstaller to "Installed apps", and "Open with > Sheet Sync" to .xlsx and .xlsm files
; (registered under HKCU, never as the default program for them).
;
; Built by packaging/build_windows.py, which passes the version and paths from the
; package (never edit them here):
;   makensis -WX /DVERSION=0.1.0 /DVERSION4=0.1.0.0 /DBUNDLE=build\dist\sheetsync
;            /DICON=build\icons\sheetsync.ico /DOUTFILE=dist\SheetSync-0.1.0-setup.exe
;            packaging\windows\sheetsync.nsi
; BUNDLE is PyInstaller's one-folder output ("Sheet Sync.exe", sheetsync.exe, _internal\).

Unicode true
ManifestDPIAware true
RequestExecutionLevel user
SetCompressor /SOLID lzma

!ifndef VERSION
  !error "VERSION is not defined: build with packaging/build_windows.py"
!endif
!ifndef VERSION4
  !error "VERSION4 (four numbers, for the file properties) is not defined"
!endif
!ifndef BUNDLE
  !error "BUNDLE (the PyInstaller output folder) is not defined"
!endif
!ifndef ICON
  !error "ICON (the .ico made by make_icons.py) is not defined"
!endif
!ifndef OUTFILE
  !define OUTFILE "SheetSync-${VERSION}-setup.exe"
!endif

!define APP_NAME "Sheet Sync"
!define APP_EXE "Sheet Sync.exe"
!define CLI_EXE "sheetsync.exe"
!define PUBLISHER "Replify"
!define APP_ID "com.replify.SheetSync"
!define PROGID "Replify.SheetSync.Workbook"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP_ID}"
!define CLASSES "Software\Classes"

Name "${APP_NAME} ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${APP_NAME}"
InstallDirRegKey HKCU "${UNINST_KEY}" "InstallLocation"
BrandingText "${APP_NAME} ${VERSION}"
ShowInstDetails nevershow
ShowUninstDetails nevershow

!include "MUI2.nsh"
!include "FileFunc.nsh"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\${APP_EXE}"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${APP_NAME}"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

VIProductVersion "${VERSION4}"
VIFileVersion "${VERSION4}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "ProductName" "${APP_NAME}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "CompanyName" "${PUBLISHER}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "FileDescription" "${APP_NAME} installer"
VIAddVersionKey /LANG=${LANG_ENGLISH} "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "LegalCopyright" "${PUBLISHER}"

Function .onInit
  SetShellVarContext current
FunctionEnd

Function un.onInit
  SetShellVarContext current
FunctionEnd

Section "${APP_NAME}" SecApp
  SectionIn RO
  SetOutPath "$INSTDIR"
  ; An upgrade replaces the whole bundle: no file of the old version stays behind.
  RMDir /r "$INSTDIR\_internal"
  File "/oname=${APP_EXE}" "${BUNDLE}\${APP_EXE}"
  File "/oname=${CLI_EXE}" "${BUNDLE}\${CLI_EXE}"
  File /r "${BUNDLE}\_internal"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateShortCut "$SMPROGRAMS\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0 \
    SW_SHOWNORMAL "" "Sync Excel contact lists into Replify campaigns"

  ; "Open with": a ProgID listed in each extension's OpenWithProgids, and the application
  ; key Explorer uses for its "Open with" list. The default program is left alone.
  WriteRegStr HKCU "${CLASSES}\${PROGID}" "" "Excel Workbook (${APP_NAME})"
  WriteRegStr HKCU "${CLASSES}\${PROGID}\DefaultIcon" "" '"$INSTDIR\${APP_EXE}",0'
  WriteRegStr HKCU "${CLASSES}\${PROGID}\shell\open" "" "Open with ${APP_NAME}"
  WriteRegStr HKCU "${CLASSES}\${PROGID}\shell\open\command" "" '"$INSTDIR\${APP_EXE}" gui "%1"'
  WriteRegStr HKCU "${CLASSES}\.xlsx\OpenWithProgids" "${PROGID}" ""
  WriteRegStr HKCU "${CLASSES}\.xlsm\OpenWithProgids" "${PROGID}" ""
  WriteRegStr HKCU "${CLASSES}\Applications\${APP_EXE}" "FriendlyAppName" "${APP_NAME}"
  WriteRegStr HKCU "${CLASSES}\Applications\${APP_EXE}\SupportedTypes" ".xlsx" ""
  WriteRegStr HKCU "${CLASSES}\Applications\${APP_EXE}\SupportedTypes" ".xlsm" ""
  WriteRegStr HKCU "${CLASSES}\Applications\${APP_EXE}\shell\open\command" "" '"$INSTDIR\${APP_EXE}" gui "%1"'

  ; "Installed apps" (Add or remove programs), for this user.
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "${APP_NAME}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" '"$INSTDIR\${APP_EXE}",0'
  WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  WriteRegDWORD HKCU "${UNINST_KEY}" "EstimatedSize" "$0"

  ; Tell Explorer the file associations changed (SHCNE_ASSOCCHANGED).
  System::Call 'shell32::SHChangeNotify(i 0x08000000, i 0, p 0, p 0)'
SectionEnd

Section "Uninstall"
  ; Only what the installer put there: never RMDir /r "$INSTDIR" (it might be a folder
  ; the user chose that holds other things). Settings, logs and the API key in the
  ; Credential Manager are the user's and stay.
  Delete "$INSTDIR\${APP_EXE}"
  Delete "$INSTDIR\${CLI_EXE}"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"

  Delete "$SMPROGRAMS\${APP_NAME}.lnk"

  DeleteRegValue HKCU "${CLASSES}\.xlsx\OpenWithProgids" "${PROGID}"
  DeleteRegValue HKCU "${CLASSES}\.xlsm\OpenWithProgids" "${PROGID}"
  DeleteRegKey /ifempty HKCU "${CLASSES}\.xlsx\OpenWithProgids"
  DeleteRegKey /ifempty HKCU "${CLASSES}\.xlsm\OpenWithProgids"
  DeleteRegKey HKCU "${CLASSES}\${PROGID}"
  DeleteRegKey HKCU "${CLASSES}\Applications\${APP_EXE}"
  DeleteRegKey HKCU "${UNINST_KEY}"

  System::Call 'shell32::SHChangeNotify(i 0x08000000, i 0, p 0, p 0)'
SectionEnd
