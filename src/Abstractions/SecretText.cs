using System.Text.RegularExpressions;

namespace Occystrap.Abstractions;

/// <summary>Keeps credentials out of anything printed: <c>scheme://user:pass@host</c> becomes <c>scheme://user:***@host</c>.</summary>
public static partial class SecretText
{
    [GeneratedRegex(@"(?<=(^|//|\s))([^\s/@:]+):([^\s/@]+)@")]
    private static partial Regex UserInfo();

    public static string Redact(string text) => UserInfo().Replace(text, m => $"{m.Groups[2].Value}:***@");
}
