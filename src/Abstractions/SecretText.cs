using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace Occystrap.Abstractions;

/// <summary>Keeps credentials out of anything printed: <c>scheme://user:pass@host</c> becomes <c>scheme://user:***@host</c>.</summary>
public static partial class SecretText
{
    [GeneratedRegex(@"(?<=(^|//|\s))([^\s/@:]+):([^\s/@]+)@")]
    private static partial Regex UserInfo();

    [GeneratedRegex(@"\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]+", RegexOptions.IgnoreCase)]
    private static partial Regex AuthorizationValue();

    // After "scheme://" a password may hold raw '/' and spaces (anything up to the '@' before the host):
    // hiding too much there is better than printing a password.
    [GeneratedRegex(@"(?<=//)([^\s/@:]+):((?:(?!://)[^@\n])*)@")]
    private static partial Regex UriUserInfo();

    // Text with no '@' and no authorization scheme holds nothing to hide, and most text is such: it is returned
    // without starting the regular-expression engine, which every command would otherwise pay for at start-up. The
    // expressions are used in methods of their own, not inlined: a method that names them, even on a path not
    // taken, loads the regular-expression assembly when it is first called.
    public static string Redact(string text) => !text.Contains('@') ? RedactAuthorization(text) : RedactUserInfo(text);

    /// <summary>Hides the value of an <c>Authorization</c> header that a server echoes back: <c>Basic dXNlcjpwYXNz</c> becomes <c>Basic ***</c>.</summary>
    public static string RedactAuthorization(string text) =>
        !text.Contains("basic", StringComparison.OrdinalIgnoreCase) && !text.Contains("bearer", StringComparison.OrdinalIgnoreCase) ? text :
        RedactAuthorizationValue(text);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string RedactUserInfo(string text) =>
        RedactAuthorization(UserInfo().Replace(UriUserInfo().Replace(text, m => $"{m.Groups[1].Value}:***@"), m => m.Groups[3].Value == "***" ? m.Value : $"{m.Groups[2].Value}:***@"));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string RedactAuthorizationValue(string text) => AuthorizationValue().Replace(text, m => $"{m.Groups[1].Value} ***");
}
