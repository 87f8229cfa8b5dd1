using System.CommandLine;
using System.Text.RegularExpressions;

namespace Occystrap.Host.Cli;

/// <summary>
/// The parser's errors as one line: an unknown command with the nearest command name, missing arguments named
/// once, type names in words. The usage hint goes on the same line.
/// </summary>
internal static partial class ParseErrors
{
    public static string OneLine(ParseResult parse)
    {
        string hint = parse.CommandResult.Command is RootCommand ? "occystrap --help" : $"occystrap {parse.CommandResult.Command.Name} --help";
        var root = parse.RootCommandResult.Command;
        // The first unmatched word at the top is the misspelt command: the rest only follow from it.
        if (parse.CommandResult.Command is RootCommand && parse.UnmatchedTokens.Count > 0)
        {
            string word = parse.UnmatchedTokens[0];
            string? near = Nearest(word, root.Subcommands.Where(c => !c.Hidden).Select(c => c.Name));
            return near is null
                ? $"unknown command '{word}' (see occystrap --help)"
                : $"unknown command '{word}'; did you mean '{near}'? (see occystrap --help)";
        }
        var missing = parse.CommandResult.Command.Arguments
            .Where(a => parse.GetResult(a) is not { Tokens.Count: > 0 })
            .Select(a => a.Name).ToList();
        var messages = parse.Errors.Select(e => Words(e.Message.ReplaceLineEndings(" "))).Distinct().ToList();
        if (messages.Any(m => m.StartsWith("Required argument missing", StringComparison.Ordinal)) && missing.Count > 0)
        {
            messages.RemoveAll(m => m.StartsWith("Required argument missing", StringComparison.Ordinal));
            messages.Insert(0, $"{parse.CommandResult.Command.Name} needs {string.Join(" and ", missing)}");
        }
        return $"{string.Join("; ", messages.Select(m => m.TrimEnd('.')))} (see {hint})";
    }

    /// <summary>.NET type names in words: a whole number, not 'System.Int32'.</summary>
    private static string Words(string message) => TypeName().Replace(message, m => m.Groups[1].Value switch
    {
        "System.Int32" or "System.Int64" or "System.Nullable`1[System.Int64]" or "System.Nullable`1[System.Int32]" => "as a whole number",
        "System.Boolean" => "as true or false",
        _ => m.Value,
    });

    [GeneratedRegex(@"as expected type '([^']+)'")]
    private static partial Regex TypeName();

    /// <summary>The candidate at the smallest edit distance, when that is at most a third of the word (and at least 1).</summary>
    internal static string? Nearest(string word, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string c in candidates)
        {
            int d = Distance(word.ToLowerInvariant(), c);
            if (d < bestDistance)
            {
                (best, bestDistance) = (c, d);
            }
        }
        return bestDistance <= Math.Max(1, word.Length / 3) ? best : null;
    }

    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }
}
